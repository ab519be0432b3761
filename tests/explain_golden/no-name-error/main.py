model = ['dense']
print('layers:', len(model))
