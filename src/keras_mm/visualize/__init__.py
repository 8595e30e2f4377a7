"""Plots: training curves, attention maps, captions and audio, as
matplotlib figures."""

from keras_mm.visualize.attention import attention_map
from keras_mm.visualize.attention import attention_scores
from keras_mm.visualize.attention import caption_attention
from keras_mm.visualize.attention import caption_attention_scores
from keras_mm.visualize.audio import ctc_alignment
from keras_mm.visualize.audio import image_audio_attention
from keras_mm.visualize.audio import waveform
from keras_mm.visualize.images import captioned_images
from keras_mm.visualize.training import training_curves
