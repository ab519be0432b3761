import tensorflow as tf
from tensorflow import keras

# Reuse the model an earlier run saved, or build and train a new one.
try:
    model = keras.models.load_model("my_model.keras")
    print("Loaded the saved model from my_model.keras")
except Exception as err:
    print(f"Could not load my_model.keras ({type(err).__name__}: {err}); building a new model.")
    model = keras.Sequential(
        [
            layers.Input(shape=(784,)),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5, batch_size=32)

# Load MNIST and flatten each 28x28 image into 784 numbers between 0 and 1.
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(60000, 784).astype("float32") / 255
x_test = x_test.reshape(10000, 784).astype("float32") / 255

# Save the model, so the next run can load it.
model.save("my_model.keras")
