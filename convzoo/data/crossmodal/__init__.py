"""Cross-modal data: pairs of image and text features with their label vectors.

- :mod:`~convzoo.data.crossmodal.paired_digits`: the embedded default, scikit-learn's digits
  paired with generated sentences about them as bags of words (seeded);
- :mod:`~convzoo.data.crossmodal.features`: the .mat feature files of DSCMR's release
  (Pascal Sentence, Wikipedia);
- :mod:`~convzoo.data.crossmodal.image_text`: class folders of images with their raw texts
  (encoded by the crossmodal task, as a frozen CNN's features or as pixels for a fine-tuned one:
  :mod:`convzoo.tasks.crossmodal.encoders`);
- :mod:`~convzoo.data.crossmodal.splits`: the splits they give.
"""

from __future__ import annotations

from pathlib import Path

from convzoo.data.crossmodal.features import FEATURE_FILES, load_feature_files
from convzoo.data.crossmodal.paired_digits import VOCABULARY, bag_of_words, paired_digits_splits
from convzoo.data.crossmodal.splits import CrossModalSplit, CrossModalSplits
from convzoo.data.names import CROSSMODAL_DATASETS as DATASETS
from convzoo.errors import ConvzooError

__all__ = ["DATASETS", "FEATURE_FILES", "VOCABULARY", "CrossModalSplit", "CrossModalSplits", "bag_of_words",
           "load_crossmodal_dataset", "load_feature_files", "paired_digits_splits"]


def load_crossmodal_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0) -> CrossModalSplits:
    """The pairs of dataset ``name``: ``paired-digits`` (generated with ``seed``) or ``dscmr-features`` (``data_dir``)."""
    if name == "paired-digits":
        return paired_digits_splits(seed)
    if name == "dscmr-features":
        if data_dir is None:
            raise ConvzooError("--dataset dscmr-features reads the release's .mat files: give --data-dir D")
        return load_feature_files(data_dir)
    raise ConvzooError(f"unknown crossmodal dataset {name!r}; expected one of {', '.join(DATASETS)}")
