"""Learning to compare (``--task metric``): Siamese, pseudo-Siamese and triplet networks.

Two inputs go through one network (or two) into one embedding space, and a loss judges
their distance: the contrastive loss on pairs (Hadsell, Chopra and LeCun, CVPR 2006), the
triplet loss with online mining (Schroff, Kalenichenko and Philbin, FaceNet, CVPR 2015;
Hermans, Beyer and Leibe 2017), Koch's cross-entropy on pairs (Koch, Zemel and
Salakhutdinov, 2015). Scored by verification (ROC, AUC, EER, TAR at fixed FAR), retrieval
(Recall@K, mAP, MAP@R) and N-way one-shot accuracy on classes never seen in training.

The package imports each name's module when the name is first asked for.
"""

from __future__ import annotations

from convzoo.lazy_exports import lazy_exports

__all__ = [
    "ContrastiveLoss", "KochLoss", "TripletLoss", "batch_pairs", "best_threshold", "nearest_neighbours",
    "one_shot_accuracy", "one_shot_scores", "one_shot_trials", "retrieval_scores", "roc_curve", "verification_scores",
]

__getattr__, __dir__ = lazy_exports(__name__, {"ContrastiveLoss": "losses", "KochLoss": "losses",
                                               "TripletLoss": "losses", "batch_pairs": "losses",
                                               "nearest_neighbours": "neighbours", "one_shot_accuracy": "one_shot",
                                               "one_shot_scores": "one_shot", "one_shot_trials": "one_shot",
                                               "retrieval_scores": "retrieval", "best_threshold": "verification",
                                               "roc_curve": "verification", "verification_scores": "verification"})
