from keras_mm.data.audio_io import read_audio
from keras_mm.data.audio_io import read_waveforms
from keras_mm.data.audio_io import resample
from keras_mm.data.frames import load_frame
from keras_mm.data.frames import read_image
from keras_mm.data.pipeline import make_dataset
from keras_mm.data.streaming import read_files
from keras_mm.data.streaming import stream_frame
