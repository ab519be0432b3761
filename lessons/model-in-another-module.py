# ==> model_def.py <==
"""The model: how to build it, and a quick look at it when this file is run by itself."""

import keras
from keras import layers


def build_model():
    model = keras.Sequential(
        [
            layers.Input(shape=(784,)),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    model = build_model()
    model.summary()

# ==> train.py <==
"""Training: run this file (python train.py)."""

import keras
from model_def import *

# Load MNIST and flatten each 28x28 image into 784 numbers between 0 and 1.
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(60000, 784).astype("float32") / 255
x_test = x_test.reshape(10000, 784).astype("float32") / 255

model.fit(x_train, y_train, epochs=3, batch_size=32)
