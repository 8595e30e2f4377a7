from keras_mm.datasets.driving import driving
from keras_mm.datasets.medical import medical
from keras_mm.datasets.paired import spoken_commands
from keras_mm.datasets.paired import spoken_scenes
from keras_mm.datasets.scenes import LABELS as SCENES_LABELS
from keras_mm.datasets.scenes import scenes
from keras_mm.datasets.spoken import spoken
from keras_mm.datasets.spoken_sentiment import spoken_sentiment
