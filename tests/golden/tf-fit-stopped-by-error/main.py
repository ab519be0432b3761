import numpy as np
from tensorflow import keras


class StopAtSecondEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("stop here")


x = np.zeros((8, 4), dtype="float32")
y = np.zeros((8,), dtype="int32")
model = keras.Sequential([keras.layers.Input(shape=(4,)), keras.layers.Dense(2)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x, y, epochs=3, verbose=0, callbacks=[StopAtSecondEpoch()])
