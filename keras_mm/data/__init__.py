from keras_mm.data.pipeline import make_dataset
