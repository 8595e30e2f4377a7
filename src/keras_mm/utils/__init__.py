from keras_mm.utils.inputs import inputs_like
from keras_mm.utils.validation import check_finite
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_modalities
from keras_mm.utils.validation import check_rate
