from keras_mm.models.captioner import Captioner
from keras_mm.models.pipeline_model import PipelineModel
from keras_mm.models.speech_recognizer import BlankPadding
from keras_mm.models.speech_recognizer import CTCLoss
from keras_mm.models.speech_recognizer import SpeechRecognizer
