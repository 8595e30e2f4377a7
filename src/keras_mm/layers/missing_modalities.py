import keras
from keras import ops

from keras_mm.api_export import keras_mm_export
from keras_mm.utils.validation import check_rate


@keras_mm_export
class MissingModalities(keras.layers.Layer):
    """Replaces the features of absent modalities by learned embeddings.

    For each modality key in `present`, rows whose flag is `False` get a
    learned "missing" vector in place of their `"pooled_output"` and of
    every token of their `"sequence_output"` (one vector for both), and a
    padding mask that is all `True` (so pooling and attention see the
    learned tokens). During
    training, modality dropout also marks each present modality of a row
    absent with probability `rate`, but never all of a row's modalities.

    A Keras mask on a `"sequence_output"` (recurrent encoders attach one)
    is turned into an explicit `"padding_mask"` entry, since fusion layers
    read padding masks from the dict.

    Args:
        rate: float in `[0, 1)`. Modality dropout rate in training.
            Defaults to `0.0`.
        seed: int or `None`. Seed of the dropout.

    Call arguments:
        features: dict of modality key to `{"sequence_output",
            "pooled_output"}` (and optionally `"padding_mask"`).
        present: dict of modality key to a bool tensor `(batch,)`; keys
            not in it are always present.
        training: bool. Whether modality dropout applies.

    Examples:
    >>> layer = keras_mm.layers.MissingModalities()
    >>> features = {"text": {"sequence_output": np.ones((2, 3, 4)),
    ...                      "pooled_output": np.ones((2, 4))}}
    >>> out = layer(features, {"text": np.array([True, False])})
    >>> keras.ops.convert_to_numpy(out["text"]["padding_mask"]).tolist()
    [[True, True, True], [True, True, True]]
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_rate(rate=rate)
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def build(self, features_shape, present_shape):
        # One learned vector per modality stands for every token and for
        # the pooled features (the mean of identical tokens), so it gets
        # gradients whichever of them the fusion reads.
        self.embeddings = {}
        for key in sorted(present_shape):
            shapes = features_shape[key]
            dims = {shapes["pooled_output"][-1], shapes["sequence_output"][-1]}
            for dim in sorted(dims):
                suffix = "" if len(dims) == 1 else f"_{dim}"
                self.embeddings[f"{key}_{dim}"] = self.add_weight(
                    name=f"{key}_missing{suffix}",
                    shape=(dim,),
                    initializer=keras.initializers.RandomNormal(stddev=0.02),
                )

    def compute_mask(self, features, mask=None):
        return None

    def compute_output_shape(self, features_shape, present_shape):
        out = {}
        for key, shapes in features_shape.items():
            out[key] = dict(shapes)
            sequence = shapes["sequence_output"]
            if key in present_shape or "padding_mask" in shapes:
                out[key]["padding_mask"] = tuple(sequence[:2])
        return out

    def compute_output_spec(
        self, features, present, training=None, features_mask=None
    ):
        # As `call` returns them: padding masks are bool, float features
        # are in the compute dtype (inputs are cast to it), others keep
        # their dtype.
        shapes = self.compute_output_shape(
            keras.tree.map_structure(lambda x: tuple(x.shape), features),
            keras.tree.map_structure(lambda x: tuple(x.shape), present),
        )

        def spec(key, part, shape):
            if part == "padding_mask":
                return keras.KerasTensor(shape, "bool")
            dtype = keras.backend.standardize_dtype(features[key][part].dtype)
            if self.autocast and keras.backend.is_float_dtype(dtype):
                dtype = self.compute_dtype
            return keras.KerasTensor(shape, dtype)

        return {
            key: {part: spec(key, part, shape) for part, shape in parts.items()}
            for key, parts in shapes.items()
        }

    def _keep(self, present, training):
        keys = sorted(present)
        keep = {k: ops.cast(present[k], "bool") for k in keys}
        if not training or self.rate == 0.0:
            return keep
        dropped = {
            k: ops.logical_and(
                keep[k],
                keras.random.uniform(
                    ops.shape(keep[k]), seed=self.seed_generator
                )
                >= self.rate,
            )
            for k in keys
        }
        any_left = dropped[keys[0]]
        for k in keys[1:]:
            any_left = ops.logical_or(any_left, dropped[k])
        # Rows that modality dropout would leave empty keep their inputs.
        return {k: ops.where(any_left, dropped[k], keep[k]) for k in keys}

    def call(self, features, present, training=None, features_mask=None):
        keep = self._keep(present, training)
        out = {}
        for key, parts in features.items():
            parts = dict(parts)
            sequence = parts["sequence_output"]
            padding_mask = parts.get("padding_mask")
            keras_mask = (
                features_mask.get(key)
                if isinstance(features_mask, dict)
                else None
            )
            if padding_mask is None and isinstance(keras_mask, dict):
                padding_mask = keras_mask.get("sequence_output")
            if key in keep:
                rows = keep[key]
                pooled = parts["pooled_output"]
                missing_pooled = ops.cast(
                    self.embeddings[f"{key}_{pooled.shape[-1]}"], pooled.dtype
                )
                missing_sequence = ops.cast(
                    self.embeddings[f"{key}_{sequence.shape[-1]}"],
                    sequence.dtype,
                )
                parts["pooled_output"] = ops.where(
                    rows[:, None], pooled, missing_pooled[None, :]
                )
                parts["sequence_output"] = ops.where(
                    rows[:, None, None],
                    sequence,
                    missing_sequence[None, None, :],
                )
                if padding_mask is None:
                    padding_mask = ops.ones(ops.shape(sequence)[:2], "bool")
                padding_mask = ops.logical_or(
                    ops.cast(padding_mask, "bool"),
                    ops.logical_not(rows)[:, None],
                )
            if padding_mask is not None:
                parts["padding_mask"] = ops.cast(padding_mask, "bool")
            out[key] = parts
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
