model = build_model(
print("never")
