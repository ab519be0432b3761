from keras.models import load_model

model = load_model('model_with_lambda.h5')
model.summary()
