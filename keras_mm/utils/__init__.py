from keras_mm.utils.validation import check_integers
