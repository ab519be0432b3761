from tensorflow import keras
from tensorflow.keras import layers

# Load MNIST and flatten each 28x28 image into 784 numbers between 0 and 1.
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(60000, 784).astype("float32") / 255
x_test = x_test.reshape(10000, 784).astype("float32") / 255


class Trainer:
    """Keeps the model and its training settings together."""

    def __init__(self, hidden_units=64, epochs=3):
        self.epochs = epochs
        self.model = keras.Sequential(
            [
                layers.Input(shape=(784,)),
                layers.Dense(hidden_units, activation="relu"),
                layers.Dense(10, activation="softmax"),
            ]
        )
        self.model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])


trainer = Trainer()
trainer.model.fit(x_train, y_train, epochs=trainer.epochs, batch_size=32)
