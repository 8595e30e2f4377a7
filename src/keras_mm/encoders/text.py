"""`keras_mm.encoders.text`: strings to word tokens and a pooled vector."""

import collections

import keras
import keras_hub

from keras_mm.encoders.encoder import Encoder
from keras_mm.encoders.presets import is_preset
from keras_mm.encoders.presets import load_preset
from keras_mm.layers.masked_average_pooling import MaskedAveragePooling
from keras_mm.layers.padded_gru import PaddedGRU
from keras_mm.layers.word_tokenizer import SPECIAL_TOKENS
from keras_mm.layers.word_tokenizer import WordTokenizer
from keras_mm.utils.inputs import inputs_like
from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.validation import check_integers

BUILTINS = {
    # name: (hidden_dim, num_layers, num_heads)
    "transformer_small": (64, 2, 4),
    "bigru_small": (64, 1, None),
    "bag_of_words_small": (64, None, None),
}


def text_vocabulary(texts, vocabulary_size=1000, lowercase=True):
    """Builds a word vocabulary from texts, offline.

    Words are split exactly as `keras_mm.layers.WordTokenizer` splits them
    and ranked by frequency (ties alphabetically, so the result is
    deterministic). The special tokens `"[PAD]", "[UNK]", "[START]",
    "[END]"` come first.

    Args:
        texts: list of str, array of str or a `tf.data.Dataset` of strings.
        vocabulary_size: int. Length of the result, special tokens included.
        lowercase: bool. Defaults to `True`.

    Returns:
        A list of str.

    Examples:
    >>> keras_mm.encoders.text_vocabulary(["A red circle.", "a blue circle"])
    ['[PAD]', '[UNK]', '[START]', '[END]', 'a', 'circle', '.', 'blue', 'red']
    """
    if not isinstance(vocabulary_size, int) or vocabulary_size <= len(
        SPECIAL_TOKENS
    ):
        raise ValueError(
            "`vocabulary_size` must be an integer above "
            f"{len(SPECIAL_TOKENS)}. Received: vocabulary_size="
            f"{vocabulary_size}"
        )
    if isinstance(texts, str):
        raise ValueError(
            "`texts` must be a list of strings, not one string. Received: "
            f"texts={texts!r}"
        )
    require_tensorflow("`text_vocabulary`")
    splitter = WordTokenizer(list(SPECIAL_TOKENS), 1, lowercase=lowercase)
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts)))
    counts = collections.Counter()
    for batch in texts.batch(1024):
        words = splitter.split(batch).flat_values.numpy()
        counts.update(w.decode("utf-8") for w in words)
    for token in SPECIAL_TOKENS:
        counts.pop(token.lower() if lowercase else token, None)
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return (
        list(SPECIAL_TOKENS) + ranked[: vocabulary_size - len(SPECIAL_TOKENS)]
    )


def _builtin_network(
    name,
    vocabulary_size,
    sequence_length,
    hidden_dim,
    num_layers,
    num_heads,
    dropout,
    prefix,
):
    token_ids = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(
        (sequence_length,), dtype="bool", name="padding_mask"
    )
    if name == "bag_of_words_small":
        # No mixing between tokens: each word keeps its own vector, and
        # the pooled vector is their normalised mean. Trained from scratch
        # on short statements, this learns which word is which far faster
        # than a transformer, whose first layers average the words. The
        # norms have no weights: a fusion that reads only one of the two
        # outputs leaves no weight without a gradient, and an empty text
        # still pools to zeros.
        embeddings = keras.layers.Embedding(
            vocabulary_size, hidden_dim, name=f"{prefix}_embedding"
        )(token_ids)
        pooled = MaskedAveragePooling(name=f"{prefix}_pooling")(
            embeddings, padding_mask=padding_mask
        )
        return keras.Model(
            {"token_ids": token_ids, "padding_mask": padding_mask},
            {
                "sequence_output": keras.layers.LayerNormalization(
                    center=False, scale=False, name=f"{prefix}_token_norm"
                )(embeddings),
                "pooled_output": keras.layers.LayerNormalization(
                    center=False, scale=False, name=f"{prefix}_pooled_norm"
                )(pooled),
            },
            name=f"{prefix}_network",
        )
    if name == "transformer_small":
        x = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size,
            sequence_length,
            hidden_dim,
            name=f"{prefix}_embedding",
        )(token_ids)
        for i in range(num_layers):
            x = keras_hub.layers.TransformerEncoder(
                intermediate_dim=hidden_dim * 2,
                num_heads=num_heads,
                dropout=dropout,
                name=f"{prefix}_transformer_layer_{i}",
            )(x, padding_mask=padding_mask)
    else:
        x = keras.layers.Embedding(
            vocabulary_size, hidden_dim, name=f"{prefix}_embedding"
        )(token_ids)
        for i in range(num_layers):
            # Token ids are right-padded: `PaddedGRU` runs unmasked and
            # gives the masked GRU's outputs.
            x = keras.layers.Bidirectional(
                PaddedGRU(
                    hidden_dim // 2, return_sequences=True, dropout=dropout
                ),
                name=f"{prefix}_bigru_layer_{i}",
            )(x, mask=padding_mask)
    pooled = MaskedAveragePooling(name=f"{prefix}_pooling")(
        x, padding_mask=padding_mask
    )
    return keras.Model(
        {"token_ids": token_ids, "padding_mask": padding_mask},
        {"sequence_output": x, "pooled_output": pooled},
        name=f"{prefix}_network",
    )


def _keras_hub_network(backbone, prefix):
    inputs = inputs_like(backbone.input)
    outputs = backbone(inputs)
    if isinstance(outputs, dict):
        sequence = outputs["sequence_output"]
        pooled = outputs.get("pooled_output")
    else:
        sequence, pooled = outputs, None
    if pooled is None:
        pooled = MaskedAveragePooling(name=f"{prefix}_pooling")(
            sequence, padding_mask=inputs["padding_mask"]
        )
    return keras.Model(
        inputs,
        {"sequence_output": sequence, "pooled_output": pooled},
        name=f"{prefix}_network",
    )


def _keras_hub_preprocessor(backbone, tokenizer, sequence_length):
    for cls in keras_hub.models.TextClassifierPreprocessor.__subclasses__():
        if cls.backbone_cls is type(backbone):
            return cls(tokenizer=tokenizer, sequence_length=sequence_length)
    raise ValueError(
        f"No KerasHub text preprocessor matches {type(backbone).__name__}. "
        "Pass a preset name or directory instead."
    )


def text(
    backbone="transformer_small",
    vocabulary=None,
    sequence_length=32,
    tokenizer=None,
    hidden_dim=None,
    num_layers=None,
    num_heads=None,
    dropout=0.1,
    trainable=True,
    name="text_encoder",
):
    """Builds a text encoder: raw strings to word tokens and a pooled vector.

    `predict`, `fit` and `evaluate` take raw strings: the encoder's
    `preprocessor` tokenises and pads them to `sequence_length` in the data
    pipeline, on any backend. Inside a model the encoder takes
    `{"token_ids", "padding_mask"}` (and `"segment_ids"` for BERT-style
    backbones), and returns `{"sequence_output": (batch, sequence_length,
    dim), "pooled_output": (batch, dim)}`: the pooled vector is the masked
    mean of the tokens, or the backbone's own pooled output (BERT's).

    Empty strings are valid: they give an all-padding row.

    Args:
        backbone: str or `keras_hub.models.Backbone`. One of:
            - a built-in architecture, randomly initialised, with a
              word-level `WordTokenizer` over `vocabulary` (core TensorFlow
              string ops only, so exported models serve raw strings on a
              stock TF Serving): `"transformer_small"`, `"bigru_small"`
              or `"bag_of_words_small"` (word embeddings, no mixing
              between words: their normalised mean is the pooled vector;
              from scratch, the fastest to tell words apart; its scope is
              text whose word order does not matter, such as short
              attribute statements: "not red" and "red, not" are one bag);
            - a KerasHub preset name such as `"bert_tiny_en_uncased"`
              (downloads on first use), or a local preset directory holding
              the backbone and its tokenizer;
            - a KerasHub backbone object (an explicit config, randomly
              initialised) with its `tokenizer`.
        vocabulary: list of str. For built-ins: from
            `keras_mm.encoders.text_vocabulary(texts)`.
        sequence_length: int. Tokens per text. Defaults to `32`.
        tokenizer: `keras_hub.tokenizers.Tokenizer`, for a backbone object.
        hidden_dim, num_layers, num_heads: ints, to size a built-in.
            Default to 64, 2 and 4 (`transformer_small`), 64 and 1
            (`bigru_small`), 64 (`bag_of_words_small`, which has no layers
            or heads and ignores `num_layers`, `num_heads` and
            `dropout`).
        dropout: float. Dropout rate of a built-in. Defaults to `0.1`.
        trainable: bool. `False` freezes the encoder. Defaults to `True`.
        name: str. Defaults to `"text_encoder"`.

    Returns:
        A `keras_mm.encoders.Encoder` with a `preprocessor`.

    Examples:
    >>> vocab = keras_mm.encoders.text_vocabulary(["a red circle"] * 4)
    >>> encoder = keras_mm.encoders.text("transformer_small",
    ...     vocabulary=vocab, sequence_length=8, hidden_dim=16)
    >>> encoder.predict(["a red circle", ""],
    ...                 verbose=0)["pooled_output"].shape
    (2, 16)

    With pretrained weights, on a machine that can download them:

    ```python
    encoder = keras_mm.encoders.text("bert_tiny_en_uncased",
                                     sequence_length=64)
    ```
    """
    check_integers(sequence_length=sequence_length)
    if isinstance(backbone, str) and backbone in BUILTINS:
        if vocabulary is None:
            raise ValueError(
                f"The built-in text encoder '{backbone}' needs a "
                "`vocabulary`. Build one with "
                "`keras_mm.encoders.text_vocabulary(texts)`."
            )
        defaults = BUILTINS[backbone]
        preprocessor = WordTokenizer(
            vocabulary, sequence_length, name=f"{name}_preprocessor"
        )
        network = _builtin_network(
            backbone,
            preprocessor.vocabulary_size,
            sequence_length,
            hidden_dim or defaults[0],
            num_layers or defaults[1],
            num_heads or defaults[2],
            dropout,
            name,
        )
    elif isinstance(backbone, str) and is_preset(backbone):
        preset = backbone
        backbone = load_preset(
            keras_hub.models.Backbone.from_preset, preset, sorted(BUILTINS)
        )
        preprocessor = load_preset(
            keras_hub.models.TextClassifierPreprocessor.from_preset,
            preset,
            sorted(BUILTINS),
            sequence_length=sequence_length,
        )
        network = _keras_hub_network(backbone, name)
    elif isinstance(backbone, keras_hub.models.Backbone):
        if tokenizer is None:
            raise ValueError(
                "A KerasHub backbone object needs its `tokenizer`, e.g. "
                "`keras_hub.models.BertTokenizer(vocabulary=...)`."
            )
        preprocessor = _keras_hub_preprocessor(
            backbone, tokenizer, sequence_length
        )
        network = _keras_hub_network(backbone, name)
    else:
        raise ValueError(
            f"Unknown text encoder {backbone!r}. Allowed: a built-in "
            f"architecture ({', '.join(sorted(BUILTINS))}), a KerasHub "
            "preset name (e.g. 'bert_tiny_en_uncased'; see "
            "`keras_hub.models.Backbone.presets`), a local preset "
            "directory, or a KerasHub backbone object with its tokenizer."
        )
    encoder = Encoder(network, preprocessor=preprocessor, name=name)
    encoder.trainable = trainable
    return encoder
