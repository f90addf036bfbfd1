"""Data for pose estimation: keypoint layouts, real annotation formats and a seeded generator of synthetic people."""
