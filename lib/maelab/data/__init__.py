"""Datasets: the data table (roots, statistics, classes, splits), loaders and tensor-side augmentation."""
