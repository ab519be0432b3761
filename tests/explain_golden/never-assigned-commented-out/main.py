def build():
    return 'a model'


# model = build()
print('training', model)
