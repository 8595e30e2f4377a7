from keras_mm.base.pipeline_model import PipelineModel
from keras_mm.models.captioner import Captioner
from keras_mm.models.multimodal_classifier import MultimodalClassifier
from keras_mm.models.speech_recognizer import BlankPadding
from keras_mm.models.speech_recognizer import SpeechRecognizer
from keras_mm.models.task import Task
