from keras_mm.datasets.scenes import scenes
