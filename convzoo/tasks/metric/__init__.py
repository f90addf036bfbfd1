"""Learning to compare (``--task metric``): Siamese, pseudo-Siamese and triplet networks.

Two inputs go through one network (or two) into one embedding space, and a loss judges
their distance: the contrastive loss on pairs (Hadsell, Chopra and LeCun, CVPR 2006), the
triplet loss with online mining (Schroff, Kalenichenko and Philbin, FaceNet, CVPR 2015;
Hermans, Beyer and Leibe 2017), Koch's cross-entropy on pairs (Koch, Zemel and
Salakhutdinov, 2015). Scored by verification (ROC, AUC, EER, TAR at fixed FAR), retrieval
(Recall@K, mAP, MAP@R) and N-way one-shot accuracy on classes never seen in training.
"""

from __future__ import annotations

from convzoo.tasks.metric.losses import ContrastiveLoss, KochLoss, TripletLoss, batch_pairs
from convzoo.tasks.metric.neighbours import nearest_neighbours
from convzoo.tasks.metric.one_shot import one_shot_accuracy, one_shot_scores, one_shot_trials
from convzoo.tasks.metric.retrieval import retrieval_scores
from convzoo.tasks.metric.verification import best_threshold, roc_curve, verification_scores

__all__ = [
    "ContrastiveLoss", "KochLoss", "TripletLoss", "batch_pairs", "best_threshold", "nearest_neighbours",
    "one_shot_accuracy", "one_shot_scores", "one_shot_trials", "retrieval_scores", "roc_curve", "verification_scores",
]
