from kedro.pipeline import Pipeline, node, pipeline

from .nodes import extract_features


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                extract_features,
                inputs=["raw_data", "params:features", "params:seed", "params:device", "params:progress",
                        "feature_cache"],
                outputs="features",
                name="extract_features",
            )
        ]
    )
