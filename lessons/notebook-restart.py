# %% [markdown]
# # Train a digit classifier
#
# Yesterday this notebook trained a model. Overnight the runtime restarted: run it again from the top.

# %% Imports and data
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

# Load MNIST and flatten each 28x28 image into 784 numbers between 0 and 1.
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(60000, 784).astype("float32") / 255
x_test = x_test.reshape(10000, 784).astype("float32") / 255

# %% Build the model
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


build_model()

# %% Train
model.fit(x_train, y_train, epochs=3, batch_size=32)

# %% Evaluate
model.evaluate(x_test, y_test)
