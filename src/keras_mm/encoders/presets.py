"""Loading KerasHub presets, with errors that say what to do offline."""

import os

import keras_hub

_PRESET_SCHEMES = ("kaggle://", "hf://", "modelscope://", "gs://")


def is_preset(name):
    """Whether `name` is a KerasHub preset name, URI or local directory."""
    return (
        name in keras_hub.models.Backbone.presets
        or name.startswith(_PRESET_SCHEMES)
        or os.path.isdir(name)
    )


def load_preset(loader, preset, builtin_names, **kwargs):
    """Calls `loader(preset, **kwargs)`; a failure names the preset, the cause
    and the offline alternatives."""
    try:
        return loader(preset, **kwargs)
    except Exception as error:
        where = (
            "local preset directory"
            if os.path.isdir(preset)
            else "KerasHub preset"
        )
        raise ValueError(
            f"Could not load the {where} '{preset}': "
            f"{type(error).__name__}: {error}\n"
            "Presets download their config and weights on first use, which "
            "needs the network (Kaggle or Hugging Face). Offline, either "
            "pass a local preset directory (on a machine with the preset: "
            "`keras_hub.models.Backbone.from_preset(name).save_to_preset("
            "directory)`, and the tokenizer or image converter likewise), or "
            "a built-in architecture with random initialisation: "
            f"{', '.join(builtin_names)}."
        ) from error
