"""CCA, the paper's classical baseline (0.226 average mAP on Pascal Sentence in the paper).

Canonical correlation analysis (Hotelling 1936) finds the linear maps of the two modalities'
features whose outputs correlate most; the test pairs projected by them are ranked by
cosine as DSCMR's representations are. Unsupervised: the labels are not used.
scikit-learn's iterative :class:`~sklearn.cross_decomposition.CCA` fits it.
"""

from __future__ import annotations

import torch

from convzoo.data.crossmodal import CrossModalSplits
from convzoo.tasks.crossmodal.scoring import map_report

__all__ = ["cca_report"]


def cca_report(data: CrossModalSplits, components: int = 10, max_iter: int = 500) -> dict[str, float]:
    """The test split's mAPs in the space of ``components`` canonical pairs fitted on the training pairs."""
    from sklearn.cross_decomposition import CCA

    components = min(components, data.image_dim, data.text_dim, len(data.train))
    cca = CCA(n_components=components, max_iter=max_iter)
    cca.fit(data.train.images.numpy(), data.train.texts.numpy())
    images, texts = cca.transform(data.test.images.numpy(), data.test.texts.numpy())
    return map_report(torch.from_numpy(images).float(), torch.from_numpy(texts).float(), data.test.labels)
