"""The search loop: propose, train on the proxy, measure, reward, record, save; resume after a kill.

Every strategy searches the same way (Zoph and Le 2017; MnasNet, Sec. 4): the strategy proposes a genotype,
the proxy task trains it for a few epochs (:mod:`convzoo.nas.proxy`), the candidate's latency is measured on
this machine or summed from a per-block table (:mod:`convzoo.nas.latency`), MnasNet's reward combines the two
(:mod:`convzoo.nas.reward`), and the strategy observes the reward. After every candidate the search's whole
state (the settings, the strategy's state with its random generators, every record so far, the time spent) is
written atomically to ``search_state.safetensors`` in the output folder, with the records as
``candidates.csv``; a killed search continued with :func:`run_search` on the same folder proposes the same
candidates an uninterrupted one would (when the rewards repeat: the proxy is seeded and deterministic, a
latency *measurement* is not; MACs, parameters and a latency table are).

A genotype proposed twice is not trained twice: its first record is reused (marked ``cached``).

Before the search, the hand-designed networks of ``references`` (``mobilenet_v2_cifar`` by default) go
through the same proxy and measurement, to be marked on the Pareto plot and, when no target is given, to set
it: the first reference's cost.

DARTS is the exception: its strategy trains one supernet by gradient descent (:mod:`convzoo.nas.darts_search`,
which saves and resumes itself) and proposes the one genotype it derives, which is then scored like any other.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from convzoo.errors import ConvzooError
from convzoo.nas.latency import LatencyTable, measure_latency
from convzoo.nas.proxy import ProxyTask
from convzoo.nas.records import Record, best_candidate, write_candidates
from convzoo.nas.reward import Reward
from convzoo.nas.space import SearchSpace
from convzoo.registry import create_model, get_entry
from convzoo.train.state import load_state, save_state

__all__ = ["SPACES", "STRATEGY_NAMES", "SearchConfig", "SearchResult", "build_space", "run_search"]

logger = logging.getLogger(__name__)

STATE_FILE = "search_state.safetensors"
LATENCY_TABLE_FILE = "latency_table.json"
DARTS_STATE_FILE = "darts_state.safetensors"

# space name -> (module, class): imported when used, so building the command line imports neither.
SPACES = {"mnas": ("convzoo.nas.mnas_space", "MnasSpace"), "darts": ("convzoo.nas.darts_space", "DartsSpace")}
STRATEGY_NAMES = ("random", "evolution", "reinforce", "darts")
LATENCY_MODES = ("measured", "table")


@dataclass
class SearchConfig:
    """The settings of a search; saved with its state, so a resumed search keeps them.

    Attributes:
        space, strategy: the search space (:data:`SPACES`) and the strategy (:data:`STRATEGY_NAMES`).
        space_options, strategy_options: their constructors' keyword arguments.
        dataset, data_dir, image_size, epochs, batch_size, lr, seed: the proxy task (:class:`ProxyTask`).
        budget_minutes, max_candidates: the search stops at whichever comes first (``None``: no limit;
            one of them must be set).
        objective, target, form, exponent: the reward (:class:`Reward`); ``target`` ``None``: the first
            reference's cost.
        latency: ``"measured"`` (each candidate whole) or ``"table"`` (summed from a per-block table,
            every ``table_check_every``-th candidate also measured whole to report the table's error; the
            references, which are not cut into blocks, are measured whole).
        latency_threads: threads of every latency measurement.
        references: hand-designed networks scored by the same proxy, for the plot and the default target.
        darts_epochs: epochs of DARTS's supernet training.
    """

    space: str = "mnas"
    strategy: str = "evolution"
    space_options: dict[str, Any] = field(default_factory=dict)
    strategy_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    data_dir: str | None = None
    image_size: int = 32
    epochs: int = 3
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    budget_minutes: float | None = 30.0
    max_candidates: int | None = None
    objective: str = "latency"
    target: float | None = None
    form: str = "soft"
    exponent: float = -0.07
    latency: str = "measured"
    latency_threads: int = 1
    table_check_every: int = 5
    references: list[str] = field(default_factory=lambda: ["mobilenet_v2_cifar"])
    darts_epochs: int = 10

    def validate(self) -> None:
        if self.space not in SPACES:
            raise ConvzooError(f"unknown search space {self.space!r}; expected one of {', '.join(SPACES)}")
        if self.strategy not in STRATEGY_NAMES:
            raise ConvzooError(f"unknown strategy {self.strategy!r}; expected one of {', '.join(STRATEGY_NAMES)}")
        if self.strategy == "darts" and self.space != "darts":
            raise ConvzooError("--strategy darts searches the DARTS cell space only; give --space darts")
        if self.latency not in LATENCY_MODES:
            raise ConvzooError(f"unknown latency mode {self.latency!r}; expected one of {', '.join(LATENCY_MODES)}")
        if self.latency == "table" and self.space != "mnas":
            raise ConvzooError("--latency table needs a space cut into blocks (mnas); measure DARTS cells whole")
        if self.budget_minutes is None and self.max_candidates is None and self.strategy != "darts":
            raise ConvzooError("give --budget-minutes or --max-candidates: a search needs an end")
        for name in ("budget_minutes", "max_candidates", "epochs", "batch_size", "image_size", "darts_epochs"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConvzooError(f"{name} must be positive, got {value}")
        for name in self.references:
            get_entry(name)  # an unknown name fails before anything trains
        Reward(self.objective, self.target or 1.0, self.form, self.exponent)

    def proxy(self) -> ProxyTask:
        return ProxyTask(dataset=self.dataset, data_dir=self.data_dir, image_size=self.image_size,
                         epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                         seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SearchConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


@dataclass
class SearchResult:
    """What a search ends with: every record (references first), the best candidate, the output folder."""

    records: list[Record]
    best: Record | None
    out: Path
    target: float
    table_error: dict[str, float] = field(default_factory=dict)


def build_space(config: SearchConfig) -> SearchSpace:
    module, name = SPACES[config.space]
    space_class = getattr(importlib.import_module(module), name)
    try:
        return space_class(**config.space_options)
    except TypeError as error:
        raise ConvzooError(f"the {config.space} space cannot take the options {config.space_options}: {error}") from None


def _build_strategy(config: SearchConfig, space: SearchSpace) -> Any:
    from convzoo.nas.strategies import STRATEGIES

    try:
        return STRATEGIES[config.strategy](space, config.seed, **config.strategy_options)
    except TypeError as error:
        raise ConvzooError(f"the {config.strategy} strategy cannot take the options {config.strategy_options}: "
                           f"{error}") from None


class _Evaluator:
    """Scores networks: proxy accuracy, MACs, parameters and latency, into records."""

    def __init__(self, config: SearchConfig, out: Path) -> None:
        self.config, self.out = config, out
        self.proxy = config.proxy()
        self.table = None
        if config.latency == "table":
            self.table = LatencyTable(out / LATENCY_TABLE_FILE, threads=config.latency_threads)

    def score(self, model: str, model_kwargs: dict[str, Any], folder: Path, *, check_table: bool = False) -> dict:
        result = self.proxy.evaluate(model, model_kwargs, folder)
        network = create_model(model, **result.model_args).eval()
        shape = (1, result.model_args["in_chans"], self.proxy.image_size, self.proxy.image_size)
        table = self.table if hasattr(network, "latency_units") else None  # a reference is measured whole
        measured = None
        if table is None or check_table:
            measured = measure_latency(network, shape, threads=self.config.latency_threads)
        latency = table.estimate(network, shape) if table is not None else measured
        return dict(val_accuracy=result.val_accuracy, latency_ms=latency, measured_ms=measured, macs=result.macs,
                    params=result.params, train_seconds=result.train_seconds)


class _Search:
    def __init__(self, config: SearchConfig, out: Path, state: dict[str, Any] | None,
                 on_record: Callable[[Record, Record | None], None] | None) -> None:
        self.config, self.out, self.on_record = config, out, on_record
        self.space = build_space(config)
        self.evaluator = _Evaluator(config, out)
        self.records = [Record.from_dict(row) for row in (state or {}).get("records", [])]
        self.elapsed = float((state or {}).get("elapsed_s", 0.0))
        self.target = (state or {}).get("target", config.target)
        self.started = time.monotonic()
        self.strategy = None
        if config.strategy != "darts":
            self.strategy = _build_strategy(config, self.space)
            if state is not None and "strategy" in state:
                self.strategy.load_state_dict(state["strategy"])

    # -- state ---------------------------------------------------------------------------------------
    def seconds(self) -> float:
        return self.elapsed + time.monotonic() - self.started

    def save(self) -> None:
        state = {"config": self.config.to_dict(), "records": [record.to_dict() for record in self.records],
                 "elapsed_s": self.seconds(), "target": self.target}
        if self.strategy is not None:
            state["strategy"] = self.strategy.state_dict()
        save_state(self.out / STATE_FILE, state)
        write_candidates(self.out / "candidates.csv", self.records)

    def add(self, record: Record) -> None:
        self.records.append(record)
        self.save()
        if self.on_record is not None:
            self.on_record(record, best_candidate(self.records))

    def candidates(self) -> list[Record]:
        return [record for record in self.records if record.kind == "candidate"]

    # -- scoring ---------------------------------------------------------------------------------------
    def reward(self) -> Reward:
        return Reward(self.config.objective, self.target, self.config.form, self.config.exponent)

    def score_references(self) -> None:
        done = {record.name for record in self.records if record.kind == "reference"}
        for name in self.config.references:
            if name in done:
                continue
            logger.info("scoring the reference %s", name)
            scores = self.evaluator.score(name, {}, self.out / "references" / name)
            self.add(Record(kind="reference", index=len(done), name=name, genotype=None, **scores))
            done.add(name)
        if self.target is None:
            references = [record for record in self.records if record.kind == "reference"]
            if not references:
                raise ConvzooError(f"give --target (the {self.config.objective} the reward aims at), or a "
                                   f"--references network whose {self.config.objective} sets it")
            self.target = Reward(self.config.objective).cost(references[0].to_dict())
            self.save()

    def score_candidate(self, genotype: dict[str, Any]) -> Record:
        index = len(self.candidates())
        key = json.dumps(genotype, sort_keys=True)
        seen = next((r for r in self.candidates() if json.dumps(r.genotype, sort_keys=True) == key), None)
        if seen is not None:
            scores = {name: getattr(seen, name) for name in Record.SCORES}
            return Record(kind="candidate", index=index, name="", genotype=genotype, cached=True,
                          reward=seen.reward, **scores)
        folder = self.out / "candidates" / f"{index:04d}"
        check = self.config.latency == "table" and index % self.config.table_check_every == 0
        model_kwargs = {**self.space.model_kwargs(), "genotype": genotype}
        scores = self.evaluator.score(self.space.model_name, model_kwargs, folder, check_table=check)
        (folder / "genotype.json").write_text(json.dumps(genotype, indent=1) + "\n")
        scorer = self.reward()
        reward = scorer(scores["val_accuracy"], scorer.cost(scores))
        return Record(kind="candidate", index=index, name="", genotype=genotype, reward=reward, **scores)

    # -- the loops -------------------------------------------------------------------------------------
    def finished(self) -> bool:
        config = self.config
        if config.max_candidates is not None and len(self.candidates()) >= config.max_candidates:
            return True
        return config.budget_minutes is not None and self.seconds() >= 60 * config.budget_minutes

    def run_strategy(self) -> None:
        while not self.finished():
            genotype = self.strategy.propose()
            record = self.score_candidate(genotype)
            self.strategy.observe(genotype, record.reward)
            self.add(record)

    def run_darts(self) -> None:
        from convzoo.data import load_dataset
        from convzoo.nas.darts_search import DartsSearch

        if self.candidates():
            return  # the derived genotype is scored: the search is over
        proxy = self.evaluator.proxy
        in_chans = get_entry(self.space.model_name).input_size[0]  # the channels the proxy runs give the model
        splits = load_dataset(proxy.dataset, image_size=proxy.image_size, in_chans=in_chans, augment="none",
                              data_dir=proxy.data_dir)
        size = {name: self.space.model_kwargs()[name] for name in ("init_channels", "layers")}  # the space's net
        search = DartsSearch(splits, seed=self.config.seed, epochs=self.config.darts_epochs,
                             batch_size=self.config.batch_size, state_path=self.out / DARTS_STATE_FILE,
                             **size, **self.config.strategy_options)
        genotype = search.run()
        self.add(self.score_candidate(genotype))


def _load_resume(out: Path) -> dict[str, Any]:
    path = out / STATE_FILE
    if not path.exists():
        raise ConvzooError(f"{out} holds no search to resume (no {STATE_FILE})")
    return load_state(path)


def run_search(
    config: SearchConfig | None,
    out: str | Path,
    *,
    resume: bool = False,
    on_record: Callable[[Record, Record | None], None] | None = None,
    budget_minutes: float | None = None,
    max_candidates: int | None = None,
) -> SearchResult:
    """Search with ``config`` into the folder ``out``, or continue the search saved there (``resume``).

    A resumed search keeps its saved settings, but ``budget_minutes`` and ``max_candidates``, when given,
    replace its limits (to extend it). ``on_record(record, best_so_far)`` is called after every record.
    """
    from convzoo.nas.report import write_report

    out = Path(out)
    state = _load_resume(out) if resume else None
    if state is not None:
        config = SearchConfig.from_dict(state["config"])
        if budget_minutes is not None:
            config.budget_minutes = budget_minutes
        if max_candidates is not None:
            config.max_candidates = max_candidates
    elif config is None:
        raise ConvzooError("give a SearchConfig, or resume=True on a folder that holds a search")
    elif (out / STATE_FILE).exists():
        raise ConvzooError(f"{out} already holds a search; resume it (--resume {out}) or give another --out")
    config.validate()
    search = _Search(config, out, state, on_record)
    search.score_references()
    if search.strategy is None:
        search.run_darts()
    else:
        search.run_strategy()
    search.save()
    return write_report(search.records, out, search.target, config)
