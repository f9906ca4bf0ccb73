"""The clustering methods: one module per method with its fit loop ``fit_<name>(x, n_clusters, geometry,
params, seed, device, views, progress) -> ClusteringResult``, its ``predict_<name>(model, x, device)`` and
its scikit-learn estimator (``KMeansBaseline``, ``DEC``, ``IDEC``, ``DCN``, ``DEKM``, ``EmAEC``, ``ULHEDC``,
``DCKM``, ``UMAPGMM``, ``TAKE``).

:mod:`~deep_kmeans.methods.kit` is the training kit they share, :mod:`~deep_kmeans.methods.autoencoder`
what the autoencoder methods share; the torch modules and losses are :mod:`deep_kmeans.models`.
Nothing here imports Kedro (the pipelines wrap these functions).
"""
