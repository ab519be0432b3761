model = ['dense']
print(model)
del model
print(len(model))
