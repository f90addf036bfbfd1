"""The embedded default of the crossmodal task: scikit-learn's digits paired with generated sentences about them.

Each of the 1,797 bundled 8x8 digits (the image side: its 64 pixels scaled to [0, 1]) gets
one short sentence, drawn with a generator seeded by ``seed``, that describes it in words
of four kinds:

* the class word ("seven"), present in only :data:`CLASS_WORD_RATE` of the sentences;
* two shape words from the class's own list (:data:`SHAPE_WORDS`: a 7 is "straight",
  "angle", "flat", "top"), each replaced by a shape word of another class with probability
  :data:`SHAPE_NOISE`; the lists overlap (0, 6, 8 and 9 all have a "loop"), so shape words
  alone leave classes ambiguous;
* a stroke word from the image itself: "bold" or "heavy" when its ink is above the
  median of its class, "faint" or "light" when below;
* three to five distractor words ("the", "scanned", "picture", ...).

The text side is the sentence's bag of words over the fixed :data:`VOCABULARY` (1 for each
word present). A sentence without its class word can be told only from its shape words,
and a badly written digit only from its pixels, so neither modality is trivially
retrievable from the other, while both carry the class: what DSCMR's label-space and
common-space losses exploit. The pairs are split at random (seeded) into 1,097 training,
200 validation and 500 test pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from convzoo.data.crossmodal.splits import CrossModalSplit, CrossModalSplits

__all__ = ["CLASS_NAMES", "CLASS_WORD_RATE", "DISTRACTORS", "SHAPE_NOISE", "SHAPE_WORDS", "STROKE_WORDS",
           "VOCABULARY", "bag_of_words", "paired_digits_splits"]

CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SHAPE_WORDS = (
    ("round", "loop", "oval", "closed"),
    ("straight", "vertical", "thin", "line"),
    ("curve", "hook", "flat", "base"),
    ("curve", "bumps", "open", "double"),
    ("straight", "cross", "angle", "open"),
    ("curve", "flat", "hook", "top"),
    ("loop", "curve", "tail", "closed"),
    ("straight", "angle", "flat", "top"),
    ("loop", "double", "closed", "round"),
    ("loop", "tail", "straight", "closed"),
)
STROKE_WORDS = {"heavy": ("bold", "heavy"), "light": ("faint", "light")}
DISTRACTORS = ("the", "a", "digit", "number", "written", "by", "hand", "scanned", "picture", "of", "shows", "small",
               "image", "here", "this", "is", "some", "ink", "on", "paper")
VOCABULARY = sorted({*CLASS_NAMES, *(w for words in SHAPE_WORDS for w in words),
                     *(w for words in STROKE_WORDS.values() for w in words), *DISTRACTORS})
CLASS_WORD_RATE = 0.5
SHAPE_NOISE = 0.3
SPLIT_SIZES = {"val": 200, "test": 500}  # the rest trains
ALL_SHAPES = sorted({w for words in SHAPE_WORDS for w in words})


def bag_of_words(sentences: list[str]) -> torch.Tensor:
    """``(N, len(VOCABULARY))``: 1 where the sentence has the word; words outside the vocabulary are ignored."""
    index = {word: i for i, word in enumerate(VOCABULARY)}
    vectors = torch.zeros(len(sentences), len(VOCABULARY))
    for row, sentence in enumerate(sentences):
        for word in sentence.lower().split():
            if word in index:
                vectors[row, index[word]] = 1.0
    return vectors


def _sentence(label: int, heavy: bool, rng: np.random.Generator) -> str:
    words = []
    if rng.random() < CLASS_WORD_RATE:
        words.append(CLASS_NAMES[label])
    for shape in rng.choice(SHAPE_WORDS[label], size=2, replace=False):
        words.append(str(rng.choice(ALL_SHAPES)) if rng.random() < SHAPE_NOISE else str(shape))
    words.append(str(rng.choice(STROKE_WORDS["heavy" if heavy else "light"])))
    words.extend(str(w) for w in rng.choice(DISTRACTORS, size=int(rng.integers(3, 6)), replace=False))
    rng.shuffle(words)
    return " ".join(words)


def _heavy_strokes(pictures: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Whether each digit has more ink than the median of its class."""
    ink = pictures.reshape(len(pictures), -1).sum(axis=1)
    medians = {label: np.median(ink[labels == label]) for label in np.unique(labels)}
    return np.array([value > medians[label] for value, label in zip(ink, labels)])


def paired_digits_splits(seed: int = 0) -> CrossModalSplits:
    """The generated digit-sentence pairs of ``seed``, split into train, validation and test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pictures = digits.images.astype(np.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    heavy = _heavy_strokes(pictures, labels)
    sentences = [_sentence(int(label), bool(h), rng) for label, h in zip(labels, heavy)]
    order = rng.permutation(len(labels))
    test_end = SPLIT_SIZES["test"]
    val_end = test_end + SPLIT_SIZES["val"]
    parts = {"test": order[:test_end], "val": order[test_end:val_end], "train": order[val_end:]}
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(labels), len(CLASS_NAMES)).float()
    texts = bag_of_words(sentences)
    images = torch.from_numpy(pictures.reshape(len(pictures), -1))

    def split(indices: np.ndarray) -> CrossModalSplit:
        rows = torch.from_numpy(indices)
        return CrossModalSplit(images[rows], texts[rows], one_hot[rows], pictures=torch.from_numpy(pictures[indices]),
                               sentences=[sentences[i] for i in indices])

    return CrossModalSplits(train=split(parts["train"]), val=split(parts["val"]), test=split(parts["test"]),
                            class_names=list(CLASS_NAMES), vocabulary=list(VOCABULARY))
