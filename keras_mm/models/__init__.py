from keras_mm.models.pipeline_model import PipelineModel
