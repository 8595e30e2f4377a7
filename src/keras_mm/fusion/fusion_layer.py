import keras


class FusionLayer(keras.layers.Layer):
    """Base of the fusion layers: a dict of modality features in, one
    `(batch, output_dim)` tensor out.

    It consumes any Keras mask attached to a sequence (RNN encoders attach
    one); padding masks arrive explicitly as `inputs[m]["padding_mask"]`.
    Subclasses set `self.output_dim` (their `hidden_dim`, or `num_classes`
    for late fusion).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, inputs_shape):
        first = inputs_shape[sorted(inputs_shape)[0]]["pooled_output"]
        return (first[0], self.output_dim)
