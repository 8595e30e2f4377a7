from keras_mm.metrics.caption_metrics import bleu4
from keras_mm.metrics.caption_metrics import cider_d
from keras_mm.metrics.speech_metrics import cer
from keras_mm.metrics.speech_metrics import wer
