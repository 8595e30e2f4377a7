"""Serving artifacts: SavedModels for TF Serving, TFLite files for the
LiteRT interpreter, and their checks."""

from keras_mm.export.litert_runner import LiteRTModel
from keras_mm.export.saved_model import saved_model
from keras_mm.export.tflite import tflite
from keras_mm.export.verify import verify
from keras_mm.models.task import ExportWarning
