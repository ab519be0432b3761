print('training', model)
model = ['dense']
