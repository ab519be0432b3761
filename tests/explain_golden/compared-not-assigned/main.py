def build_model():
    return ['dense']


model == build_model()
print(model)
