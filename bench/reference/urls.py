from django.urls import path

from bench.reference import views

urlpatterns = [
    path("api/polls/<int:pk>/results/", views.ResultsView.as_view()),
    path("api/polls/<int:pk>/vote/", views.VoteView.as_view()),
]
