"""The evaluation stage every method shares, defined once and namespaced by the method's name.

The template reads ``assignments`` and ``loss_history`` and writes ``metrics``, ``scores``, ``history``, the
``assignments_table`` (CSV) and three plots; :func:`create_pipeline` puts it under the method's namespace, so for ``take`` it reads
``take.assignments`` and writes ``take.metrics``, ... (the catalog's ``{method}.*`` factories), and
kedro-viz shows it as the method's collapsible ``evaluation`` group.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (assignments_table, evaluate_assignments, history_metrics, plot_confusion, plot_embedding,
                    plot_history)


def _template(method: str) -> Pipeline:
    evaluate = update_wrapper(partial(evaluate_assignments, method=method), evaluate_assignments)
    return pipeline([
        node(evaluate, inputs=["assignments", "features"], outputs=["metrics", "scores"], name="evaluate"),
        node(history_metrics, inputs="loss_history", outputs="history", name="log_losses"),
        node(assignments_table, inputs=["assignments", "features"], outputs="assignments_table",
             name="assignments_table"),
        node(plot_confusion, inputs=["assignments", "features"], outputs="confusion_plot", name="plot_confusion"),
        node(plot_embedding, inputs=["assignments", "features", "params:seed"], outputs="embedding_plot",
             name="plot_embedding"),
        node(plot_history, inputs="loss_history", outputs="losses_plot", name="plot_losses"),
    ])


def create_pipeline(method: str = "method", **kwargs) -> Pipeline:
    """Scores, plots and MLflow metrics of ``<method>.assignments`` and ``<method>.loss_history``."""
    return pipeline(_template(method), namespace=method, inputs={"features"}, parameters={"params:seed"})
