from django.core.cache import cache
from django.db import IntegrityError
from django.db.models import Count
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.reference.models import Poll, Vote
from bench.reference.serializers import VoteSerializer

RESULTS_TTL = 30


class ResultsView(APIView):
    permission_classes = [AllowAny]

    def get(self, request, pk):
        key = f"poll-results-{pk}"
        data = cache.get(key)
        if data is None:
            poll = get_object_or_404(Poll, pk=pk)
            counts = dict(
                Vote.objects.filter(poll=poll)
                .values_list("choice")
                .annotate(n=Count("id"))
                .values_list("choice", "n")
            )
            data = {
                "poll": poll.id,
                "question": poll.question,
                "total_votes": sum(counts.values()),
                "results": [
                    {"id": c.id, "text": c.text, "votes": counts.get(c.id, 0)}
                    for c in poll.choices.all()
                ],
            }
            cache.set(key, data, RESULTS_TTL)
        return Response(data)


class VoteView(APIView):
    permission_classes = [IsAuthenticated]

    def post(self, request, pk):
        poll = get_object_or_404(Poll, pk=pk)
        if not poll.is_open():
            return Response({"detail": "This poll is closed."}, status=status.HTTP_400_BAD_REQUEST)
        serializer = VoteSerializer(data=request.data, context={"poll": poll})
        serializer.is_valid(raise_exception=True)
        try:
            serializer.save(poll=poll, user=request.user)
        except IntegrityError:
            return Response({"detail": "You already voted."}, status=status.HTTP_400_BAD_REQUEST)
        return Response(serializer.data, status=status.HTTP_201_CREATED)
