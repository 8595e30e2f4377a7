from keras_mm.models.captioner import Captioner
from keras_mm.models.pipeline_model import PipelineModel
