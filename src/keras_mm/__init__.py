"""keras_mm: multimodal deep learning with Keras 3."""

from keras_mm import callbacks
from keras_mm import data
from keras_mm import datasets
from keras_mm import distribution
from keras_mm import encoders
from keras_mm import export
from keras_mm import fusion
from keras_mm import heads
from keras_mm import layers
from keras_mm import metrics
from keras_mm import models
from keras_mm import optimizers
from keras_mm import schedules
from keras_mm import utils
from keras_mm import visualize
from keras_mm.builders import build_captioner
from keras_mm.builders import build_classifier
from keras_mm.builders import build_speech_recognizer
from keras_mm.version import __version__
