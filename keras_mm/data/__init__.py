from keras_mm.data.audio_io import read_audio
from keras_mm.data.audio_io import resample
from keras_mm.data.pipeline import make_dataset
