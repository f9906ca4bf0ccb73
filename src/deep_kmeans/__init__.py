"""deep-kmeans: deep K-means clustering (TAKE and its family) as Kedro pipelines."""

__version__ = "0.1.0"
