"""``kedro run --pipeline=compare [--params=dataset=<name>]``: one comparison report of the methods.

Reads the finished MLflow runs of the data set from the current tracking store (``compare.runs``,
in memory), builds the method × metric table (``compare.table_csv``), writes it as Markdown
(``compare.table_md``) and as grouped bars (``compare.bars_plot``), and logs
``<method>.<metric>_mean`` / ``_std`` to the compare run (``compare.metrics``).
Parameters: ``conf/base/parameters_compare.yml``; catalog: ``conf/base/catalog_compare.yml``.
"""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import comparison_bars, comparison_metrics, comparison_table, query_runs, table_markdown


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(query_runs, inputs=["params:dataset", "params:compare"], outputs="compare.runs",
                 name="compare_query_runs"),
            node(comparison_table, inputs=["compare.runs", "params:compare", "params:dataset"],
                 outputs="compare.table_csv", name="compare_table"),
            node(table_markdown, inputs=["compare.table_csv", "params:dataset", "params:compare"],
                 outputs="compare.table_md", name="compare_markdown"),
            node(comparison_bars, inputs=["compare.table_csv", "params:dataset"], outputs="compare.bars_plot",
                 name="compare_plot_bars"),
            node(comparison_metrics, inputs="compare.table_csv", outputs="compare.metrics",
                 name="compare_log_metrics"),
        ]
    )
