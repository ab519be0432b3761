from tensorflow import keras
from tensorflow.keras import layers

# Load MNIST and flatten each 28x28 image into 784 numbers between 0 and 1.
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(60000, 784).astype("float32") / 255
x_test = x_test.reshape(10000, 784).astype("float32") / 255


def build_model(hidden_units):
    model = keras.Sequential(
        [
            layers.Input(shape=(784,)),
            layers.Dense(hidden_units, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# Size the model to the data: many examples can train a wide layer, few examples need a narrow one.
print("Training examples:", len(x_train))
if len(x_train) > 100_000:
    model = build_model(hidden_units=256)
elif len(x_train) < 10_000:
    model = build_model(hidden_units=32)

model.fit(x_train, y_train, epochs=3, batch_size=32)
