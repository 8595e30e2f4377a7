"""keras_mm: multimodal deep learning with Keras 3."""

from keras_mm import data
from keras_mm import datasets
from keras_mm import encoders
from keras_mm import layers
from keras_mm import models
from keras_mm import utils
from keras_mm import visualize
from keras_mm.version import __version__
