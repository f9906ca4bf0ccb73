"""The evaluation pipeline every method shares, namespaced by the method's name."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import evaluate_assignments, history_metrics, plot_confusion, plot_embedding, plot_history


def create_evaluation_pipeline(method: str) -> Pipeline:
    """Scores, plots and MLflow metrics of ``<method>.assignments`` and ``<method>.loss_history``."""
    return pipeline(
        [
            node(update_wrapper(partial(evaluate_assignments, method=method), evaluate_assignments),
                 inputs=[f"{method}.assignments", "features"],
                 outputs=[f"{method}.metrics", f"{method}.scores"], name=f"{method}_evaluate"),
            node(history_metrics, inputs=f"{method}.loss_history", outputs=f"{method}.history",
                 name=f"{method}_log_losses"),
            node(plot_confusion, inputs=[f"{method}.assignments", "features"], outputs=f"{method}.confusion_plot",
                 name=f"{method}_plot_confusion"),
            node(plot_embedding, inputs=[f"{method}.assignments", "features", "params:seed"],
                 outputs=f"{method}.embedding_plot", name=f"{method}_plot_embedding"),
            node(plot_history, inputs=f"{method}.loss_history", outputs=f"{method}.losses_plot",
                 name=f"{method}_plot_losses"),
        ]
    )
