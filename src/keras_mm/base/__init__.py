from keras_mm.base.pipeline_model import PipelineModel
