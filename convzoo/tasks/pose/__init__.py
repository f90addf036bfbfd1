"""Human pose estimation (``--task pose``)."""
