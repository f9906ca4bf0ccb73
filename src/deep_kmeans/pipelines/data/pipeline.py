from kedro.pipeline import Pipeline, node, pipeline

from .nodes import load_raw_data


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                load_raw_data,
                inputs=["params:dataset", "params:data", "params:data_seed", "params:custom", "custom_source"],
                outputs="raw_data",
                name="load_raw_data",
            )
        ]
    )
