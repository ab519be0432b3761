import cv2
from keras.backend import clear_session


def reset():
    clear_session()
    K.set_learning_phase(0)


reset()
