from keras_mm.encoders.audio import audio
from keras_mm.encoders.encoder import Encoder
from keras_mm.encoders.image import image
from keras_mm.encoders.text import text
from keras_mm.encoders.text import text_vocabulary
